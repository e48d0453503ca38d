package e2e
{
    import mx.messaging.ChannelSet;
    import mx.messaging.channels.AMFChannel;
    import mx.rpc.AsyncToken;
    import mx.rpc.Responder;
    import mx.rpc.events.FaultEvent;
    import mx.rpc.events.ResultEvent;
    import mx.rpc.remoting.RemoteObject;

    import org.apache.royale.reflection.getQualifiedClassName;
    import org.apache.royale.reflection.registerClassAlias;

    /**
     * The address book (examples/addressbook) through typed objects: load the first user
     * (an AbUser with sa_key and sa_lazy; its e-mail addresses loaded, its phone numbers
     * lazy), edit it and its addresses, save it back, load it again, then ask for the lazy
     * phone numbers, which the save must have left alone.  Items "addressbook.*".
     */
    public class AddressBookItem
    {
        private static const USER:String = "addressbook.User";

        private var ro:RemoteObject;
        private var record:Function;
        private var describe:Function;
        private var note:Function;

        /** record(name, sent, outcome, got), describe(value) and note(line) are Main's. */
        public function AddressBookItem(gateway:String, record:Function, describe:Function,
                                        note:Function)
        {
            registerClassAlias("addressbook.User", AbUser);
            registerClassAlias("addressbook.Email", AbEmail);
            registerClassAlias("addressbook.PhoneNumber", AbPhoneNumber);
            var cs:ChannelSet = new ChannelSet();
            cs.addChannel(new AMFChannel("addressbook", gateway));
            ro = new RemoteObject("AddressBook");
            ro.channelSet = cs;
            ro.makeObjectsBindable = false;
            this.record = record;
            this.describe = describe;
            this.note = note;
        }

        public function run(next:Function):void
        {
            note("phase addressbook");
            call("addressbook.load", "loadAll", [USER], next, function(users:Array):Object {
                return userSummary(users[0]);
            }, function(users:Array):void {
                var user:AbUser = users[0] as AbUser;
                user.first_name = "Anna";
                AbEmail(user.emails[0]).email = "anna@work.example";
                user.emails.splice(1, 1);
                var added:AbEmail = new AbEmail();
                added.label = "royale";
                added.email = "anna@royale.example";
                user.emails.push(added);
                call("addressbook.save", "save", [user], next, userSummary, function(saved:AbUser):void {
                    call("addressbook.reload", "load", [USER, saved.sa_key], next, userSummary,
                         function(again:AbUser):void {
                        call("addressbook.phone_numbers", "loadAttr", [USER, again.sa_key, "phone_numbers"],
                             next, phonesSummary, function(phones:Array):void { next(); });
                    });
                });
            });
        }

        /**
         * Call an AddressBook operation and record the item: its outcome and summary(result).
         * On a result, then(result); on a fault the phase ends (next()).
         */
        private function call(name:String, operation:String, args:Array, next:Function,
                              summary:Function, then:Function):void
        {
            var op:Object = ro.getOperation(operation);
            var token:AsyncToken = op.send.apply(op, args);
            token.addResponder(new mx.rpc.Responder(
                function(event:ResultEvent):void {
                    var got:Object;
                    try
                    {
                        got = summary(event.result);
                    }
                    catch (e:Error)
                    {
                        record(name, null, "error", describe(String(e)));
                        next();
                        return;
                    }
                    record(name, null, "result", describe(got));
                    then(event.result);
                },
                function(event:FaultEvent):void {
                    record(name, null, "fault", describe({"faultCode": event.fault.faultCode,
                                                          "faultString": event.fault.faultString}));
                    next();
                }));
        }

        private static function userSummary(user:Object):Object
        {
            var emails:Array = [];
            var emailClasses:Array = [];
            for each (var email:Object in user.emails)
            {
                emails.push(email.email);
                emailClasses.push(getQualifiedClassName(email));
            }
            return {"class": getQualifiedClassName(user), "sa_key": user.sa_key,
                    "sa_lazy": user.sa_lazy, "first_name": user.first_name,
                    "last_name": user.last_name, "emails": emails, "email_classes": emailClasses,
                    "phone_numbers": user.phone_numbers};
        }

        private static function phonesSummary(phones:Array):Object
        {
            var numbers:Array = [];
            var classes:Array = [];
            for each (var phone:Object in phones)
            {
                numbers.push(phone.number);
                classes.push(getQualifiedClassName(phone));
            }
            return {"numbers": numbers, "classes": classes};
        }
    }
}
